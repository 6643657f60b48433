"""The Streamlit app's library (pipeline/app.py is its entry): what it shows, and how it draws it."""
