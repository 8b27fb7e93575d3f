"""Binance's REST surface (spot ``/api/v3``, USD-M ``/fapi/v1..v3``, a little ``/sapi``)."""
