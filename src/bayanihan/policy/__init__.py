"""Sharing policy: the one place that decides who may see and do what.

Every path that reads or sends objects asks this package: ``visibility`` for
read scopes (rendered into SQL by the store), ``audience`` for who may see an
object (computed once, at write time), ``roles`` for what a key may do.
"""
