from .loading import LoadPolygonAnnotations

__all__ = ['LoadPolygonAnnotations']
