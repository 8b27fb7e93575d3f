"""``python -m simulator --port 8765 --seed 1 [--symbols BTC/USDT,ETH/USDT] [--config f.json]``."""

from .server import main

if __name__ == "__main__":
    main()
