"""Money: an integer amount of minor units (cents) in a known ISO 4217 currency. Never floats."""

from __future__ import annotations

from attrs import field, frozen

from townsquare.core.errors import InvalidInput

CURRENCIES: dict[str, int] = {
    "AUD": 2,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "INR": 2,
    "JPY": 0,
    "KRW": 0,
    "MXN": 2,
    "NOK": 2,
    "NZD": 2,
    "PLN": 2,
    "SEK": 2,
    "SGD": 2,
    "USD": 2,
    "ZAR": 2,
}
"""The accepted ISO 4217 codes and their number of minor-unit digits (JPY has none)."""

MAX_AMOUNT = 10**12
"""The largest single amount (ten billion dollars in cents): a million of them still fit a bigint sum."""


def check_currency(currency: object, *, field_name: str = "currency") -> str:
    """Return ``currency`` when it is a known ISO 4217 code.

    Raises:
        InvalidInput: not a string, or not one of :data:`CURRENCIES` (codes are upper case).
    """
    if not isinstance(currency, str) or currency not in CURRENCIES:
        known = ", ".join(sorted(CURRENCIES))
        raise InvalidInput(f"unknown currency {currency!r}; use an ISO 4217 code among {known}", field=field_name)
    return currency


def check_amount(amount: object, *, field_name: str = "amount") -> int:
    """Return ``amount`` when it is a positive integer number of minor units.

    Raises:
        InvalidInput: a float, a bool, zero, negative, or above :data:`MAX_AMOUNT`.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(
            f"amount must be an integer number of minor units (cents), got {type(amount).__name__}",
            field=field_name,
        )
    if amount <= 0:
        raise InvalidInput(f"amount must be positive, got {amount}", field=field_name)
    if amount > MAX_AMOUNT:
        raise InvalidInput(f"amount must be at most {MAX_AMOUNT} minor units, got {amount}", field=field_name)
    return amount


def _validate_currency(_instance: object, _attribute: object, value: str) -> None:
    check_currency(value)


def _validate_amount(_instance: object, _attribute: object, value: int) -> None:
    check_amount(value)


@frozen
class Money:
    """A positive amount of minor units in one currency.

    Attributes:
        amount: minor units (cents for USD, yen for JPY); a positive int, never a float.
        currency: an ISO 4217 code from :data:`CURRENCIES`.
    """

    amount: int = field(validator=_validate_amount)
    currency: str = field(validator=_validate_currency)

    def __str__(self) -> str:
        digits = CURRENCIES[self.currency]
        if digits == 0:
            return f"{self.amount} {self.currency}"
        units, minor = divmod(self.amount, 10**digits)
        return f"{units}.{minor:0{digits}d} {self.currency}"
