"""The demo's city: fresh, valid example identities of the profile's city, and the Chinese
words a city's staff read in the demo (agency and entry names, outcomes, item labels).

Every run makes new subjects, so the demo can run again on the same broker and store: a
resident ID number (GB 11643) and a 15-digit legacy number of a person born in the city, and
a unified social credit code (GB 32100) of a company registered there, all with valid check
characters. Nothing here is a real person's or company's number except by chance.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

from exchange.catalog import Catalog
from exchange.identity import org_code_check_char
from exchange.profiles import City

#: How a city's staff read the gate's outcomes (the JSON keeps the wire codes).
OUTCOME_ZH: Mapping[str, str] = {
    "accepted": "已接受",
    "duplicate": "重复（不再处理）",
    "stopped": "已拦截",
    "confirmation": "多源核验一致",
    "conflict": "数据冲突，已报大数据局",
    "rejected": "已拒收",
    "stale": "过期数据，未覆盖",
    "refused locally": "发送前已拒绝",
    "dead letter": "转入死信队列",
    "resolved": "已处理",
    "granted": "已授权",
    "revoked": "已撤销",
    "intact": "完整",
    "no receipt yet": "尚无回执",
    "no dead letter yet": "尚无死信",
    "no conflict found": "未发现冲突",
}


def outcome_zh(outcome: str) -> str:
    return OUTCOME_ZH.get(outcome, outcome)


@dataclass(frozen=True)
class Person:
    """One demo person: the 18-digit number and the 15-digit legacy form of the same person."""

    resident_id: str
    legacy_id: str


@dataclass(frozen=True)
class DemoCity:
    city: City
    rng: random.Random

    def person(self) -> Person:
        """A person born in the city between 1950 and 1999 (15-digit numbers were issued to
        people born in the 1900s only), with a random sequence number."""
        year = self.rng.randint(1950, 1999)
        born = f"{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}"
        sequence = f"{self.rng.randint(0, 999):03d}"
        body = f"{self.city.region_code}{year}{born}{sequence}"
        legacy = f"{self.city.region_code}{year % 100:02d}{born}{sequence}"
        return Person(body + mod_11_2.calc_check_digit(body), legacy)

    def credit_code(self) -> str:
        """A company (registration authority 9, type 1: 企业) registered in the city."""
        org_body = f"{self.rng.randint(10_000_000, 99_999_999)}"
        body = f"91{self.city.region_code}{org_body}{org_code_check_char(org_body)}"
        return body + uscc.calc_check_digit(body)


@dataclass(frozen=True)
class Names:
    """Chinese names of the catalog's agencies, entries and items, for what people read."""

    catalog: Catalog

    def agency(self, agency_id: str) -> str:
        agency = self.catalog.agency(agency_id)
        return agency.name_zh if agency else agency_id

    def entry(self, entry_id: str) -> str:
        entry = self.catalog.entry(entry_id)
        return entry.title_zh if entry else entry_id

    def items(self, entry_id: str, items: Mapping[str, object]) -> str:
        """``姓名=张三，性别=男``: item labels of the entry, values as written."""
        entry = self.catalog.entry(entry_id)
        labels = {i.name: i.label_zh for i in entry.items} if entry else {}
        return "，".join(f"{labels.get(k, k)}={v}" for k, v in items.items())
