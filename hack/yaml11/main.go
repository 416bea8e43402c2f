// Command yaml11 reads a YAML stream on stdin the way kubectl does
// (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1 resolution) and prints each
// document as one line of JSON, so that the type of every value shows:
// "yes" stays a string only when it was quoted.
//
// Documents holding nothing but comments and blank lines are skipped, as
// kubectl skips them. Exit status 1 and a message naming the document when
// one cannot be read.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "yaml11: reading stdin: %v\n", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i, doc := range split(input) {
		if !hasContent(doc) {
			continue
		}
		json, err := yaml.YAMLToJSON(doc)
		if err != nil {
			out.Flush()
			fmt.Fprintf(os.Stderr, "yaml11: document %d: %v\n", i+1, err)
			os.Exit(1)
		}
		out.Write(json)
		out.WriteByte('\n')
	}
}

// split cuts a stream at "---" lines (followed by nothing, spaces or a
// comment), like the document reader kubectl uses.
func split(input []byte) [][]byte {
	var docs [][]byte
	var current []byte
	for _, line := range bytes.SplitAfter(input, []byte("\n")) {
		if isSeparator(line) {
			docs = append(docs, current)
			current = nil
			continue
		}
		current = append(current, line...)
	}
	return append(docs, current)
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// hasContent reports whether a document has a line that is neither blank
// nor a comment.
func hasContent(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return true
		}
	}
	return false
}
