"""HTTP service of the reference trading agent (FastAPI on uvicorn), the target the load tests hit.

- :mod:`.app`: the FastAPI app and its endpoints; :mod:`.__main__`: the command line;
- :mod:`.state`: per-worker state, its build and which thread owns what;
- :mod:`.market`, :mod:`.desk`, :mod:`.risk`, :mod:`.recommend`: market data, trading, risk and
  model inference on top of the existing trading_agent parts;
- :mod:`.schemas`: request and response models; :mod:`.config`, :mod:`.storage`: configuration
  and where each worker persists orders; :mod:`.guards`: the request-body size limit and bounded
  validation errors;
- :mod:`.launcher`: start a server subprocess and wait until it is ready (tests, scripts);
  :mod:`.latency`: per-endpoint latency and throughput over loopback.

Importing this package imports nothing heavy (no FastAPI, no torch).
"""
