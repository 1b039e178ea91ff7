"""The Twilio-facing blueprint: verify, parse, one service call, enqueue, answer."""
