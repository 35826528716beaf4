"""Order processing: a sample with known slow patterns (and look-alikes that are fine), for
the performance_optimization tests. Every function is deterministic so a rewrite can be
checked to keep its results."""

import math
import os.path
from contextlib import suppress


def unique_customers(orders: list[str]) -> list[str]:
    seen = []
    for customer in orders:
        if customer not in seen:
            seen.append(customer)
    return seen


def invoice_text(lines):
    text = ""
    for line in lines:
        text += str(line) + "\n"
    return text


def distances(points):
    total = 0.0
    for x, y in points:
        total += math.sqrt(x * x + y * y)
    return total


def paths(names):
    found = []
    for name in names:
        found.append(os.path.join("orders", name))
    return found


def squares(values):
    result = []
    for value in values:
        result.append(value * value)
    return result


def even_values(values):
    result = []
    for value in values:
        if value % 2 == 0:
            result.append(value)
    return result


def summary(stock, values):
    total = sum([v * v for v in values])
    any_big = any([v > 3 for v in values])
    count = len(list(stock.keys()))
    first_key = list(stock)[0]
    lowest = sorted(values)[0]
    highest = sorted(values)[-1]
    longest = sorted(values, key=abs)[-1]
    keys = []
    for key in list(stock.keys()):
        keys.append(key)
    names = [key for key, _ in stock.items()]
    vowels = 0
    for ch in first_key:
        if ch in ["a", "e", "i", "o", "u"]:
            vowels += 1
    return total, any_big, count, first_key, lowest, highest, longest, keys, names, vowels


def weighted(values):
    total = 0
    for i in range(len(values)):
        total += values[i] * 2
    return total


def numbered(values):
    out = []
    for i in range(len(values)):
        out.append((i, values[i]))
    return out


def doubled_in_place(values):
    for i in range(len(values)):
        values[i] = values[i] * 2
    return values


def drained(stock):
    for key in list(stock):
        del stock[key]
    return stock


def fine(values, stock):
    kept = []
    for value in values:
        kept.append(value)
    print_last = value
    small = "a" in ("a", "b")
    for value in values:
        if value in stock:
            values.append(value)
            break
    joined = "".join([str(v) for v in values])
    for key in stock.keys():
        print_last = key
    return kept, print_last, small, joined


def complex_rules(order, rules):
    score = 0
    for rule in rules:
        if rule == "a":
            score += 1
        elif rule == "b":
            score += 2
        elif rule == "c":
            score += 3
        elif rule == "d":
            score += 4
        elif rule == "e":
            score += 5
        while score > 100:
            score -= 7
        try:
            score += order[rule]
        except KeyError:
            score -= 1
        except TypeError:
            score -= 2
        if score < 0:
            score = 0
    return score


# --- Look-alikes where a hint would be wrong (each was hinted before) ---------------------------


def reservoir(iterable, k):
    """more-itertools' sample: next() ends the loop early with StopIteration, which the with
    swallows, and the items read so far are returned (a comprehension would bind nothing)."""
    iterator = iter(iterable)
    with suppress(StopIteration):
        kept = []
        for _ in range(k):
            kept.append(next(iterator))
    return kept


def tokens(parts):
    """click's split_arg_string: the handler sees the items read before the error."""
    out = []
    try:
        for part in parts:
            out.append(int(part))
    except ValueError:
        out.append(-1)
    return out


def unique_pairs(rows):
    """The items are lists: they cannot go into a set."""
    seen = []
    for row in rows:
        if [row[0], row[1]] not in seen:
            seen.append([row[0], row[1]])
    return seen


def unique_everseen(items):
    """more-itertools' unique_everseen: the list holds what the set refused (TypeError)."""
    seen_set = set()
    seen_list = []
    out = []
    for item in items:
        try:
            if item not in seen_set:
                seen_set.add(item)
                out.append(item)
        except TypeError:
            if item not in seen_list:
                seen_list.append(item)
                out.append(item)
    return out


def groups_found(groups: list[list[str]], wanted):
    """The annotation says the items are lists."""
    found = 0
    for group in wanted:
        if group in groups:
            found += 1
    return found


def admins(users):
    """`names` is rebuilt on every iteration and tested once: no quadratic scan."""
    found = []
    for user, roles in users:
        names = [role.lower() for role in roles]
        if "admin" in names:
            found.append(user)
    return found


def fill_gaps(values):
    """rich's ratio_resolve: None marks a size still to compute, found and set by position."""
    sizes = [None if value < 0 else value for value in values]
    while None in sizes:
        index = sizes.index(None)
        sizes[index] = index
    return sizes


def positions(names, wanted):
    """httpx's test_proxies: the list is searched for a position."""
    known = [name.lower() for name in names]
    found = []
    for name in wanted:
        if name in known:
            found.append(known.index(name))
    return found


class Pairs:
    """werkzeug's MultiDict.values: `self.values()` would call this very method."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self):
        return iter(self._pairs)

    def values(self):
        for _, value in self.items():
            yield value


def labelled(values):
    """extend() of a generator is slower than this loop."""
    out = ["header"]
    for value in values:
        out.append(f"- {value}")
    return out


# --- Real positives next to them --------------------------------------------------------------


def first_items(iterable, k):
    """The reservoir loop outside any with: a comprehension does the same."""
    iterator = iter(iterable)
    kept = []
    for _ in range(k):
        kept.append(next(iterator, None))
    return kept


def unique_per_group(groups):
    """`seen` is rebuilt per group but grows and is tested for each of the group's items."""
    result = []
    for group in groups:
        seen = []
        for item in group:
            if item not in seen:
                seen.append(item)
        result.append(seen)
    return result


def total_stock(stock):
    total = 0
    for _, count in stock.items():
        total += count
    return total


def copied(stock):
    names = []
    for name in stock:
        names.append(name)
    return names


def header_lines(headers):
    """ruff's PERF401 passes over loops that unpack; the comprehension is the same."""
    lines = []
    for key, value in headers:
        lines.append(f"{key}: {value}")
    return lines


def uniq(items):
    """docutils' uniq: the items are whatever the callers pass, maybe unhashable."""
    kept = []
    for item in items:
        if item not in kept:
            kept.append(item)
    return kept


def first_named(tokens, keywords):
    """sqlparse's token_first: a list of a few constants, whatever the data."""
    types = ["name", "wildcard", "symbol"]
    if keywords:
        types.append("keyword")
    for token in tokens:
        if token in types:
            return token
    return None


def new_cookies(jar, cookie_dict):
    """requests' cookiejar_from_dict: keys of a mapping are hashable."""
    names_from_jar = [cookie.lower() for cookie in jar]
    added = 0
    for name in cookie_dict:
        if name not in names_from_jar:
            added += cookie_dict[name]
    return added


def lookups(stock: dict, values: list):
    """ruff's safe fixes: a copy of a known list, a dict index and a list index the loop has."""
    total = 0
    names = ["b", "a"]
    for name in list(names):
        total += len(name)
    for key, count in stock.items():
        total += stock[key] + count
    for i, value in enumerate(values):
        total += values[i] * value
    return total


def line_lengths(path):
    total = 0
    with open(path) as f:
        for line in f.readlines():
            total += len(line)
    return total


class Rates:
    """In a class body a comprehension cannot see `base`: NameError."""

    base = 2
    doubled = []
    for i in range(3):
        doubled.append(i * base)


def first_or_none(stock):
    """next(iter()) raises StopIteration, which this handler does not catch."""
    try:
        return list(stock)[0]
    except IndexError:
        return None


def lowest_or_none(values):
    """min() of nothing raises ValueError, which this handler does not catch."""
    try:
        return sorted(values)[0]
    except IndexError:
        return None
