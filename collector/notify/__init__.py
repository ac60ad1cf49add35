"""Alert notifications: what to send and when (grouping, repeats, digest), the words (fr, en),
and the durable SMTP queue."""
