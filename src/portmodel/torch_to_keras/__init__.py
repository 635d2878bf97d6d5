"""PyTorch -> Keras 3, code-directed: every class and function of a file translated once.

Read -> translate -> write: `source` reads a file and the package it imports from,
`interpret` follows each function's code once with its parameters as symbols (values and
layouts from `values`, `kinds`, `layout`), `nn_layers` and `tensor_ops` write the Keras
form of each torch layer and op from the rules, and `emit` writes the file (imports,
notes, the support code it needs). Instances are only for checking (`portmodel verify`).
"""
