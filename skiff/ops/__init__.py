"""Use cases. Each public function is one transaction against ``Database`` and knows no HTTP."""
