"""Results: the versioned result files, the leaderboard tables and the HTML page, and their JSON schemas."""
