# -*- test-case-name: tests.test_metrics -*-
"""
Counters, gauges and histograms for a process that counts from one thread
(the reactor's), exported through C{prometheus_client}.

prometheus_client's own metric objects take a lock and check their state
on every increment: 1-2 us a counter and 2-3 us a histogram on the
benchmark's machine, and a message is counted several times.  These are
plain numbers, read by L{Tallies} when Prometheus scrapes; an increment
costs a tenth of that.
"""

from bisect import bisect_left

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString


class Value:
    """
    A counter or a gauge: a number.
    """

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0

    def inc(self, amount=1):
        """
        Add C{amount}.
        """
        self.value += amount

    def dec(self, amount=1):
        """
        Take C{amount} away (a gauge).
        """
        self.value -= amount


class Histogram:
    """
    Observations counted in buckets (C{counts[i]}: those at most
    C{bounds[i]} and above the bound before; the last, above every bound).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0

    def observe(self, amount):
        """
        Count one observation of C{amount}.
        """
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class Family:
    """
    One metric: its name, help, type and label names, and its children by
    label values.
    """

    def __init__(self, families, kind, name, documentation, labelnames=(), buckets=None, function=None):
        """
        @param families: the list this family is added to (see L{Tallies}).
        @param kind: C{counter} (its name without C{_total}), C{gauge} or
            C{histogram} (then with its C{buckets}).
        @param function: for a gauge without labels, what gives its value
            when it is scraped.
        """
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.buckets = tuple(float(b) for b in buckets) if buckets else None
        #: For a gauge read when scraped: what gives its value.
        self.function = function
        self.children = {}
        families.append(self)
        if not labelnames and function is None:
            self.labels()

    def labels(self, *values):
        """
        The child of these label values (made the first time).
        """
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = Histogram(self.buckets) if self.buckets else Value()
        return child

    def collect(self):
        """
        The C{prometheus_client} metric family of its values now.
        """
        names = self.labelnames
        if self.kind == "histogram":
            family = HistogramMetricFamily(self.name, self.documentation, labels=names)
            for values, child in self.children.items():
                cumulative, buckets = 0, []
                for bound, count in zip(self.buckets + (float("inf"),), child.counts):
                    cumulative += count
                    buckets.append((floatToGoString(bound), cumulative))
                family.add_metric(values, buckets, child.sum)
            return family
        family = (CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily)(
            self.name, self.documentation, labels=names)
        if self.function is not None:
            family.add_metric((), self.function())
        for values, child in self.children.items():
            family.add_metric(values, child.value)
        return family


class Tallies:
    """
    L{Family} objects as a collector of a C{prometheus_client}
    C{CollectorRegistry}: read when it is scraped.
    """

    def __init__(self, families):
        self.families = families

    def collect(self):
        """
        Every family's values now.
        """
        for family in self.families:
            yield family.collect()
