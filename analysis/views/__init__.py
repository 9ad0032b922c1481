"""What people read: charts, the review summary, the HTML report, the Lesson, and the notebook API."""
