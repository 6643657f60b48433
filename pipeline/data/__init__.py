"""The input contract: raw tables from user files or the simulator, their validation, the train/test split."""
