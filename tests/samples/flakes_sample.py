"""Inventory helpers: a sample with known pyflakes problems, for the code_analysis tests."""

import os
import sys
import json as js
from collections import OrderedDict, defaultdict
from typing import List


def load(path):
    with open(path) as handle:
        data = js.load(handle)
    total = 0
    return data


def summarize(items: List[dict]) -> dict:
    counts = defaultdict(int)
    for item in items:
        counts[item["kind"]] += 1
    print(f"summary")
    return dict(counts)


def price(item):
    if item["kind"] is "book":
        return item["price"] * 0.9
    return item["price"] * undefined_rate


def price(item):
    return item["price"]


class Shelf:
    def add(self, item):
        try:
            self.items.append(item)
        except AttributeError as error:
            self.items = [item]

    def label(self):
        return "shelf: %s %s" % (self.name,)


def main():
    print(sys.argv, "dépôt", nom_inconnu)


if __name__ == "__main__":
    main()
