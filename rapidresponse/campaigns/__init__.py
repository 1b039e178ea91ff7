"""Call-in campaigns: members asked to phone a target, bridged without showing their number."""
