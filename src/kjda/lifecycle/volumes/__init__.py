"""组卷/装册: volume rules per fonds and category, assembly, moves, closing with 卷内目录 and 备考表."""
