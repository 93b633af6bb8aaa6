"""Builders the tests share: tiny data sets, videos, interim tables, model inputs and folders,
training params, a copy of the repository. Test modules and the conftest files take them from
here; a conftest holds only fixtures (wrapping these builders), and no test module reaches into
another folder's conftest or another test module."""
