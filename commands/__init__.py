"""The application service: load, decide with one domain call, save atomically."""

from commands.service import BookingService

__all__ = ["BookingService"]
