"""What the REST face and the CLI both render of the analytics: CSV, XLSX, the HTML report with
its SVG charts. One place both faces import, so a download and a file on disk are the same."""
