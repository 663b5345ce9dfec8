"""Open-domain QA retrieval (NQ, TriviaQA: DPR's protocol) and MS MARCO passage ranking (official MRR@10).

``tasks`` holds the tasks and their protocol (the cpt paper's Table 5); ``answers`` DPR's answer matching;
``metrics`` top-k accuracy and MRR@10; ``readers`` DPR's and MS MARCO's file formats.  The search is the
retrieval family's (``harness.plugins.tasks.retrieval.tasks.top_documents``).
"""
