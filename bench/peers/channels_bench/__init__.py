"""A minimal Django Channels project that serves the benchmark contract."""
