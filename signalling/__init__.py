"""Video rooms, WebSocket signalling, join tokens, TURN and the recorder leg (built in the video issue)."""
