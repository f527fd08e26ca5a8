"""Read models built from the booking events: room details, credit balances, pending deadlines.

Each view is applied exactly once per event (view rows and tracking position in one
transaction) and can be rebuilt from the events alone to the same rows.
"""
