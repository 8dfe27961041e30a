"""Stage 1 — collect: provider APIs (or the demo transport) into the store.

Owns the HTTP seam (:mod:`.http`: client factory, retry policy, rate limiters), cursor pagination,
workspace resolution (live or demo), the concurrent runner and one collector per provider
(:mod:`.vercel`, :mod:`.neon`, sub-packages :mod:`.openai`, :mod:`.upstash`, :mod:`.postgres`).
May import: the shared basics, :mod:`contribux_costs.store`, :mod:`contribux_costs.demo`.
Never pricing, FOCUS, analysis or report (:mod:`contribux_costs.pipeline` runs collect, then price).
"""
