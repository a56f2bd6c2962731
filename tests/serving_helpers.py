"""Helpers of the TF Serving tests: the client script as a module, and TF Serving's JSON.

No model server can be run here; `rest_inputs` and `rest_response` do what
TensorFlow Serving's REST front end does around a predict call (its
`tensorflow_serving/util/json_tensor.cc`: `FillPredictRequestFromJson` and
`MakeColumnarFormatJsonFromTensors`), so that a request body can be run through a
SavedModel (by `saved_model_cli`) and the outputs given back as the server would.
"""

import base64
import importlib.util
import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_SCRIPT = os.path.join(REPO, "scripts", "serving_client.py")


def load_client():
    """scripts/serving_client.py as a module (it defines its flags only as a script)."""
    spec = importlib.util.spec_from_file_location("serving_client", CLIENT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rest_inputs(body, dtypes):
    """The input tensors TF Serving makes of a columnar REST predict body.

    Args:
      body: The request body (JSON text).
      dtypes: Input name -> numpy dtype of the signature's inputs (`np.uint8`, or
        `object` for DT_STRING).

    Returns:
      Input name -> numpy value: nested lists keep their shape (a JSON number per
      element, which must be an integer for integer dtypes), `{"b64": ...}` is decoded.
    """
    inputs = json.loads(body)["inputs"]
    if set(inputs) == {"b64"} or not isinstance(inputs, dict):  # A single unnamed input.
        [name] = dtypes
        inputs = {name: inputs}
    assert set(inputs) == set(dtypes), (sorted(inputs), sorted(dtypes))
    tensors = {}
    for name, value in inputs.items():
        if dtypes[name] is object:
            assert isinstance(value, dict) and set(value) == {"b64"}, value
            tensors[name] = np.array(base64.b64decode(value["b64"]), dtype=object)
        else:
            array = np.array(value)
            assert array.dtype.kind == "i", array.dtype  # JSON integers only.
            tensors[name] = array.astype(dtypes[name])
    return tensors


def _json_value(name, value):
    value = np.asarray(value)
    if value.dtype.kind in "SO":  # DT_STRING.
        if value.shape:
            return "[" + ", ".join(_json_value(name, v) for v in value) + "]"
        data = value.item() if value.dtype == object else value.tobytes()
        if name.endswith("_bytes"):  # Only these are base64-encoded.
            return json.dumps({"b64": base64.b64encode(data).decode("ascii")})
        # Otherwise the raw bytes as a JSON string: rapidjson escapes control
        # characters, '"' and '\', and copies every other byte (no UTF-8 check).
        return json.dumps(data.decode("latin-1"), ensure_ascii=False)
    return json.dumps(value.tolist())


def rest_response(outputs):
    """The body TF Serving sends for a columnar predict request, as bytes.

    Args:
      outputs: Output name -> numpy value (as `saved_model_cli run --outdir` saves
        them; a DT_STRING scalar is a 0-d bytes array).

    Returns:
      `{"outputs": <value>}` for one output, `{"outputs": {name: <value>, ...}}` for
      several, encoded as the server does (not always UTF-8).
    """
    if len(outputs) == 1:
        [(name, value)] = outputs.items()
        text = _json_value(name, value)
    else:
        text = "{" + ", ".join(f"{json.dumps(name)}: {_json_value(name, value)}"
                               for name, value in sorted(outputs.items())) + "}"
    return ('{"outputs": ' + text + "}").encode("latin-1")
