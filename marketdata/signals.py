"""What market data tells the rest of the platform (apps above it listen; it imports none)."""

from django.dispatch import Signal

# A candle closed: sent once per (venue, symbol, timeframe, open time), after it is
# stored. Arguments: venue, symbol, timeframe, open_time (aware UTC), close (Decimal).
candle_closed = Signal()
