"""The deadline scheduler: turns time into deadline events (see ``scheduler.process``)."""
