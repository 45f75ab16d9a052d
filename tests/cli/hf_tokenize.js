#!/usr/bin/env node
// Token ids of Hugging Face's Tokenizers.js (@huggingface/tokenizers, the tokenizer of
// transformers.js) for a folder's tokenizer.json + tokenizer_config.json: the oracle that
// an exported folder tokenizes for the JS/ONNX tools as bienc does (test_onnx_ort.sh).
// usage: node hf_tokenize.js NODE_DIR MODEL_DIR TEXTS [--pair]
//   NODE_DIR   where scripts/install-ort-node.sh installed the npm packages
//   TEXTS      one text per line (--pair: TEXT_A<TAB>TEXT_B); prints the ids, one line each
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeDir, modelDir, texts, flag] = process.argv.slice(2);
const { Tokenizer } = require(path.join(path.resolve(nodeDir), 'node_modules', '@huggingface', 'tokenizers'));
const read = (f) => JSON.parse(fs.readFileSync(path.join(modelDir, f), 'utf8'));
const tok = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
const out = [];
for (const line of fs.readFileSync(texts, 'utf8').split('\n')) {
  if (line === '') continue;
  let e;
  if (flag === '--pair') {
    const tab = line.indexOf('\t');
    e = tok.encode(line.slice(0, tab), { text_pair: line.slice(tab + 1) });
  } else {
    e = tok.encode(line);
  }
  out.push(e.ids.join(' '));
}
process.stdout.write(out.join('\n') + '\n');
