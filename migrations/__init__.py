"""Everything that changes the database's shape: the lock that serialises it between processes,
and the versioned migrations of the tables that are not views (views rebuild themselves)."""
