"""Order processing: a sample with known slow patterns (and look-alikes that are fine), for
the performance_optimization tests. Every function is deterministic so a rewrite can be
checked to keep its results."""

import math
import os.path


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
