"""Privacy, in one package: `scrub` (personal data out of message text), `pseudonym` (keyed user
pseudonyms and all key policy) and `release` (the thresholds every released number must meet)."""
