#!/usr/bin/python3
"""Renders a kustomization directory (deploy/k8s/overlays/cpu, …/gpu) to the objects it produces:
the subset of kustomize these manifests use, so the manifests can be checked offline where
`kubectl kustomize` is not installed (Debian has no package for it).

Supported: `resources` (files and directories with a kustomization.yaml, recursively), `namespace`,
`labels` (pairs added to metadata.labels of every object), `images` (name → newName/newTag) and
`patches` with `path` (strategic merge: maps merge key by key, lists of maps with a `name` merge by
name — containers, env, ports, volumes — other lists are replaced). Anything else in a
kustomization is refused (exit 2), so a field kustomize would apply is never silently ignored.

Usage: deploy/k8s/render.py DIR [--json]   (YAML documents on stdout; --json: one JSON array)
"""
import copy
import json
import os
import sys

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
# Kinds without a namespace (kustomize's `namespace` leaves them alone).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"}


class RenderError(Exception):
    pass


def load_yaml_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def merge(base, patch):
    """Strategic merge of patch into base (see module doc); returns the merged value."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, existing in enumerate(out):
                if existing["name"] == item["name"]:
                    out[i] = merge(existing, item)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def set_images(obj, images):
    """Rewrites `image:` fields whose name (before any tag) matches an `images` entry."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "image" and isinstance(value, str):
                name = value.split("@")[0].rsplit(":", 1)[0] if ":" in value.split("/")[-1] else value
                for entry in images:
                    if entry["name"] == name:
                        obj[key] = f"{entry.get('newName', name)}:{entry['newTag']}" if "newTag" in entry \
                            else entry.get("newName", name)
            else:
                set_images(value, images)
    elif isinstance(obj, list):
        for value in obj:
            set_images(value, images)


def render(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    with open(path) as f:
        kustomization = yaml.safe_load(f) or {}
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise RenderError(f"{path}: unsupported kustomization fields {sorted(unknown)} (render.py supports {sorted(SUPPORTED)})")
    objects = []
    for resource in kustomization.get("resources", []):
        full = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(full):
            objects += render(full)
        elif os.path.isfile(full):
            objects += load_yaml_documents(full)
        else:
            raise RenderError(f"{path}: resource '{resource}' not found")
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise RenderError(f"{path}: only `patches: - path: FILE` is supported, got {patch_entry}")
        for patch in load_yaml_documents(os.path.join(directory, patch_entry["path"])):
            key = (patch.get("kind"), patch.get("metadata", {}).get("name"))
            targets = [i for i, o in enumerate(objects) if (o.get("kind"), o.get("metadata", {}).get("name")) == key]
            if len(targets) != 1:
                raise RenderError(f"{path}: patch {patch_entry['path']} matches {len(targets)} objects of kind/name {key}")
            objects[targets[0]] = merge(objects[targets[0]], patch)
    for entry in kustomization.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry.get("pairs", {}))
    if "images" in kustomization:
        for obj in objects:
            set_images(obj, kustomization["images"])
    if "namespace" in kustomization:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    return objects


def main(argv):
    args = [a for a in argv if a != "--json"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        objects = render(args[0])
    except (RenderError, yaml.YAMLError, OSError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 2
    if "--json" in argv:
        json.dump(objects, sys.stdout, indent=1)
    else:
        yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
