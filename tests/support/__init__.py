"""
What the tests share: servers they start, clients, fakes.
"""
