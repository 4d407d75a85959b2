"""Payments: card tokens, recording requested payments, and their outcome. No aiohttp here."""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from .cards import CardToken, CardVault, parse_card
from .config import PaymentsConfig

log = logging.getLogger("ecom.plugins.payments")


class PaymentsService:
    def __init__(self, pool: asyncpg.Pool | None, config: PaymentsConfig, vault: CardVault, events: Any = None):
        self.pool, self.config, self.vault, self.events = pool, config, vault, events

    def tokenize(self, card: Any) -> CardToken:
        """Check ``{card_number, exp_month, exp_year, cvc}`` and seal it into a short-lived token.

        Raises ValidationFailed naming the bad fields (``card_number``, ``exp_month``, ``exp_year``,
        ``cvc``). The token is the only place the number and CVC exist after this call."""
        details = parse_card(card)
        return CardToken(self.vault.seal(details), details.brand, details.last4)
