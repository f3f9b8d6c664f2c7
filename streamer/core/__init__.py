"""Records and hand-offs every stage shares: the frame records, the latest-wins slot, stats, the status interface."""
