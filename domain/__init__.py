"""The booking domain: aggregates, events, policy and errors.

Pure: no I/O, no clock reads (every instant arrives as an argument), nothing of ours
imported from outside this package.
"""
