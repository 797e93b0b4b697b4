"""Look-alike campaigns (marketers): seeds → RALM summary (k-means centroids) → every eligible person
scored in chunks across the workers → the top N or top % with scores and ranks, statistics, CSV export."""
