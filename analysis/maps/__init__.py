"""The map of the data: UMAP projection and placement, the named regions of the real data, the
map's points and image, the gaps (the regions a synthetic set fails to reach) and the ledger of what each
generation lost."""
