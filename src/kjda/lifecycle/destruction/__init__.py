"""Holds (Art.19) and destruction (销毁, Art.18) with its 销毁清册, signatures and 监销."""
