"""Entry points: the CLI (``booking``) and the HTTP API. Thin: parse, call one command or query, render."""
