"""The step runner and the operations (one per REST use case) built on it."""
