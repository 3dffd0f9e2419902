"""The job's own side: its id, its Pythons, its Poetry dirs and `poetry`, its plugin cache and its
project env. Nothing here is shared with another job."""
