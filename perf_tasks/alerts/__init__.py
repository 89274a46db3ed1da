"""Alert rules (evaluation of results) and Slack messages (build, then send)."""
