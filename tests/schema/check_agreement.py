#!/usr/bin/python3
"""The C validator and the JSON Schema must agree on the config corpus.

usage: check_agreement.py PAVESYNC_BIN SCHEMA_JSON TESTS_CONFIG_DIR

For every tests/config/valid/*.yaml and tests/config/invalid/*.yaml (not
invalid-c/, which holds what a schema cannot express), load the YAML, check
it against the schema (Draft 2020-12), run `pavesync -c FILE validate`, and
fail where the two disagree on valid/invalid. A verdict the two share but
that contradicts the directory the file sits in is a failure too.

YAML is loaded the way pavesync reads it: YAML 1.2 core schema for plain
scalars (so `yes` is a string and `0o17` an int), mapping keys as their
text, `!secret` accepted as a marker on any node, merge keys supported.
Needs PyYAML and jsonschema (Debian: python3-yaml, python3-jsonschema).
"""
import json
import os
import re
import subprocess
import sys

import jsonschema
import yaml


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core schema resolution."""


CoreLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$",
     ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$",
     list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
     list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
]:
    CoreLoader.add_implicit_resolver(_tag, re.compile(_regexp), _first)


def _int(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 10)


def _float(loader, node):
    v = loader.construct_scalar(node)
    if re.match(r"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$", v):
        raise yaml.constructor.ConstructorError(
            None, None, "%r cannot be represented in JSON" % v,
            node.start_mark)
    return float(v)


def _bool(loader, node):
    return loader.construct_scalar(node) in ("true", "True", "TRUE")


def _secret(loader, node):
    """!secret marks a value sensitive; its content is typed as if untagged."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if node.style is None:  # plain: resolve like an untagged scalar
        tag = loader.resolve(yaml.ScalarNode, node.value, (True, False))
        node = yaml.ScalarNode(tag, node.value, node.start_mark,
                               node.end_mark, node.style)
        return loader.construct_object(node, deep=True)
    return loader.construct_scalar(node)


def _mapping(loader, node, deep=False):
    """Keys are taken as their text, like the C validator does."""
    loader.flatten_mapping(node)
    out = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping key is not a scalar", key_node.start_mark)
        out[key_node.value] = loader.construct_object(value_node, deep=deep)
    return out


CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)
CoreLoader.add_constructor("tag:yaml.org,2002:bool", _bool)
CoreLoader.add_constructor("!secret", _secret)
CoreLoader.construct_mapping = _mapping


def schema_verdict(validator, path):
    """(valid?, reason)."""
    try:
        with open(path, "rb") as f:
            data = yaml.load(f, Loader=CoreLoader)
    except yaml.YAMLError as e:
        return False, "YAML: %s" % str(e).replace("\n", " ")
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "(root)"
        return False, "%s: %s" % (where, e.message)
    return True, ""


def c_verdict(binary, path, env):
    p = subprocess.run([binary, "-c", path, "validate"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=10,
                       check=False)
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    if p.returncode not in (0, 1):
        return None, "exit %d: %s" % (p.returncode, " / ".join(err))
    return p.returncode == 0, (err[0] if err else "")


def corpus_env(config_dir):
    """The same fixed environment run_corpus.py uses."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, config_dir)
    try:
        import run_corpus  # noqa: E402 (tests/config/run_corpus.py)
        return run_corpus.corpus_env
    finally:
        sys.path.pop(0)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    binary, schema_path, config_dir = argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    env_of = corpus_env(config_dir)

    passed = failed = 0
    for kind in ("valid", "invalid"):
        d = os.path.join(config_dir, kind)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".yaml"):
                continue
            path = os.path.join(d, name)
            s_ok, s_why = schema_verdict(validator, path)
            c_ok, c_why = c_verdict(binary, path, env_of())
            want = kind == "valid"
            if c_ok is None:
                problem = "pavesync failed: %s" % c_why
            elif s_ok != c_ok:
                problem = "disagree: schema says %s%s, pavesync says %s%s" % (
                    "valid" if s_ok else "invalid",
                    "" if s_ok else " (%s)" % s_why,
                    "valid" if c_ok else "invalid",
                    "" if c_ok else " (%s)" % c_why)
            elif s_ok != want:
                problem = "both say %s but the file is in %s/ (%s)" % (
                    "valid" if s_ok else "invalid", kind, s_why or c_why)
            else:
                problem = None
            if problem:
                failed += 1
                print("FAIL %s/%s: %s" % (kind, name, problem))
            else:
                passed += 1
                print("ok   %s/%s" % (kind, name))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
