package grpcapi

import (
	"encoding/base64"
	"strings"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageSize applies the API's defaults to a requested page size.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, badField("page_size", "page_size must not be negative")
	case n == 0:
		return defaultPageSize, nil
	}
	return min(int(n), maxPageSize), nil
}

// A page token is the last key of the previous page behind a prefix that
// says which list it belongs to, base64-encoded so that callers treat it as
// opaque. It stays valid across changes: the next page starts after that
// key, whatever was added or removed.
func encodeToken(kind, lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + lastKey))
}

func decodeToken(kind, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", badField("page_token", "page_token is not valid")
	}
	key, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok || key == "" {
		return "", badField("page_token", "page_token is not valid")
	}
	return key, nil
}
