"""Email digests: which articles (assemble), how they look (render), for whom (personalize)."""
