"""The paper's first attempt: SIFT descriptors + Support Vector Regression."""
