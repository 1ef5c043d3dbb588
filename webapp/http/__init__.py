"""HTTP plumbing the routes share: keys, Host and Origin checks, body limits, inputs, errors, sessions,
rate limits, and the waitress server."""
