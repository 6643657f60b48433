"""bench_peers.py's helpers: the data it hands out, the peers' venvs, and one run_<peer>.py per peer tool."""
